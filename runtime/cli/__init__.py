"""The command line: ``vclf-run`` (options, the run table, the runs), and the one-line errors and exit codes every vclf command shares."""
