"""Every benchmark with its defaults: .venv/bin/python -m bench"""

from bench import dispatch_bench, faq_bench

faq_bench.main()
print()
dispatch_bench.main([])
