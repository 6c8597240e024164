"""hpsearch bench: the speed benchmark (see hpsearch/bench.py); without --backend, every installed backend."""
from hpsearch.bench import add_arguments, bench, check_arguments, print_results  # noqa: F401


def run(args) -> int:
    check_arguments(args)
    print_results(bench(args))
    return 0
