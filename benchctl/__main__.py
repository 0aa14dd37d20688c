from benchctl.cli.app import main

main()
