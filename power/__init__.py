"""Power model: toggle counts to joules per flip and per image (see the power issue)."""
