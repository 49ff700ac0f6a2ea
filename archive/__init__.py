"""The audit-grade record: the recorders that write the one event log, and (with later
milestones) the hash chain, Merkle checkpoints, encryption, retention and sealed export."""
