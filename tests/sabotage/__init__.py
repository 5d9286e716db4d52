"""pytest plugins that break learning on purpose, to show that the learning test can fail (`-p ...`)."""
