"""hpsearch bench: the speed benchmark (see hpsearch/bench.py); --study: a study's trials/hour with one
worker and with several (hpsearch/bench_study.py)."""
from hpsearch import bench_study
from hpsearch.bench import add_arguments as add_bench_arguments
from hpsearch.bench import check_arguments, print_results, run_bench  # noqa: F401


def add_arguments(parser) -> None:
    add_bench_arguments(parser)
    bench_study.add_arguments(parser)


def run(args) -> int:
    if args.study:
        return bench_study.run(args)
    check_arguments(args)
    print_results(run_bench(args.images, args.batch_size, args.epochs))
    return 0
