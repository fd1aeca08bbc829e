from agent.cli.kiosk_agent import main

raise SystemExit(main())
