from simpeg_sync.sync import main

raise SystemExit(main())
