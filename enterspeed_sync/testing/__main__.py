from enterspeed_sync.testing.cli import main

main()
