from trainboard_cli.main import main

raise SystemExit(main())
