from modresearch.cli import main

raise SystemExit(main())
