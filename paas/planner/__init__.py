"""Pure planning: plan(desired, observed, policy, now) → the next step. No I/O."""
