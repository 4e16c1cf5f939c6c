"""``--serve`` and ``--record``: the web view, its metrics, event clips, and the watcher that feeds them from the live loop."""
