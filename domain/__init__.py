"""The sales-service process of the brokerage manual as event-sourced aggregates.

Depends only on the standard library and ``eventsourcing.domain``: every rule of the manual that
can be checked from an aggregate's own history lives here and raises a ``DomainError`` with a
stable code.
"""
