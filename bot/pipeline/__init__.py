"""What sources hand in and deliveries give back, per-user lanes between them, and the settle
of each outcome."""
