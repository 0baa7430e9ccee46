"""Every benchmark with its defaults: .venv/bin/python -m bench"""

from bench import dispatch_bench, e2e_bench, faq_bench

faq_bench.main()
print()
dispatch_bench.main([])
print()
e2e_bench.main([])
