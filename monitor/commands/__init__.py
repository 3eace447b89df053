"""One module per subcommand of `billing-monitor` (cli.py parses the command
line and reads the environment once; each command gets its parts from
assembly.py)."""
