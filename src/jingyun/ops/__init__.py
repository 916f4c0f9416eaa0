"""Operations: recurring work (the scheduler); alerts, approvals and PDCA later."""
