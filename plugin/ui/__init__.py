"""Qt widgets of the plugin (dock, dialogs)."""
