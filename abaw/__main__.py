from abaw.cli import main

raise SystemExit(main())
