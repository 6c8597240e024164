"""hpsearch bench: the speed benchmark (see hpsearch/bench.py)."""
from hpsearch.bench import add_arguments, check_arguments, print_results, run_bench  # noqa: F401


def run(args) -> int:
    check_arguments(args)
    print_results(run_bench(args.images, args.batch_size, args.epochs))
    return 0
