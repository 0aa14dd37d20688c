"""The command line: parse arguments, call the core, render. No logic of its own."""
