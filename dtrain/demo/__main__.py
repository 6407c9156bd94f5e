"""`python -m dtrain.demo` (what `make demo` runs)."""

from dtrain.demo.emulated import main

raise SystemExit(main())
