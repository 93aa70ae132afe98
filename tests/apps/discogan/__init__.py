"""DiscoGAN tests (apps/discogan)."""
