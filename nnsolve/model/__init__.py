"""What is scheduled and how it is scored."""
