from deltahook.cli import main

main()
