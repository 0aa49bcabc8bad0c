"""Shipped networks (YAML), installed as package data so a scenario can name them."""
