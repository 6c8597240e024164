"""hpsearch bench: the speed benchmark (see hpsearch/bench.py), without --backend for every installed backend;
--study: a study's trials/hour with one worker and with several (hpsearch/bench_study.py)."""

from hpsearch import bench_study
from hpsearch.bench import add_arguments as add_bench_arguments
from hpsearch.bench import bench, check_arguments, print_results


def add_arguments(parser) -> None:
    add_bench_arguments(parser)
    bench_study.add_arguments(parser)


def run(args) -> int:
    if args.study:
        return bench_study.run(args)
    check_arguments(args)
    print_results(bench(args))
    return 0
