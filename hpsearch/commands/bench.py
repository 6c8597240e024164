"""hpsearch bench: the speed benchmark (see hpsearch/bench/throughput.py), without --backend for every installed backend;
--study: a study's trials/hour with one worker and with several (hpsearch/bench/workers.py); --search: which search
strategy finds the most per epoch (hpsearch/bench/search.py)."""

from hpsearch.bench import search as bench_search
from hpsearch.bench import workers as bench_study
from hpsearch.bench.throughput import add_arguments as add_bench_arguments
from hpsearch.bench.throughput import bench, check_arguments, print_results
from hpsearch.errors import HpsearchError


def add_arguments(parser) -> None:
    add_bench_arguments(parser)
    bench_study.add_arguments(parser)
    bench_search.add_arguments(parser)


def run(args) -> int:
    if args.study and args.search:
        raise HpsearchError("bench --study and --search are two benchmarks; run one at a time")
    if args.search:
        return bench_search.run(args)
    if args.study:
        return bench_study.run(args)
    check_arguments(args)
    print_results(bench(args))
    return 0
