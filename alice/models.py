"""
The database backend of durable dialogs (alice.db_store): a session row and its turns.

JSON is kept as text, not in a JSONField: PostgreSQL's jsonb reorders the keys of objects,
and a replay must see recorded values exactly as they were (a retry gets the same bytes).
"""

from django.db import models


class DialogSession(models.Model):
    """One dialog of a skill: what a retry needs, and the revision its generator is at."""

    # The skill (its script module), so that skills never see each other's sessions.
    namespace = models.CharField(max_length=200)
    session_id = models.CharField(max_length=64)
    # Changes on every save: a process's generator is current only at the stored revision.
    rev = models.CharField(max_length=32, blank=True)
    turns = models.PositiveIntegerField(default=0)
    message_id = models.BigIntegerField(null=True, blank=True)
    # The last response, JSON.
    response = models.TextField(blank=True)
    over = models.BooleanField(default=False)
    # Bytes of the recorded turns (DialogTurn.record): what a replay reads, capped by
    # ALICE_MAX_SESSION_BYTES. A default in the database too, so that a process of the
    # previous release can still create rows while a deploy rolls.
    recorded_bytes = models.PositiveIntegerField(default=0, db_default=0)
    # Idle sessions past this are treated as gone; `manage.py alice_clearsessions` deletes
    # them.
    expires = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["namespace", "session_id"], name="alice_dialogsession_unique_session"
            )
        ]

    def __str__(self) -> str:
        return f"{self.namespace} {self.session_id} ({self.turns} turns)"


class DialogTurn(models.Model):
    """One request of a dialog, as a replay needs it."""

    session = models.ForeignKey(
        DialogSession, on_delete=models.CASCADE, related_name="recorded_turns"
    )
    number = models.PositiveIntegerField()
    # JSON [what replay.recordable() keeps of the request (no access_token), recorded()
    # values, response digest].
    record = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "number"], name="alice_dialogturn_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.session_id} #{self.number}"
