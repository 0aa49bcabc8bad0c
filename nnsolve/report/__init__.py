"""What a person reads: terminal tables, explained layers, and plots."""
