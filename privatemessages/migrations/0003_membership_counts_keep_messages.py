"""
Counters in the database, and messages kept when their sender is deleted.

The participants' many-to-many table becomes the Membership model (same
table, no copy), which carries each participant's sent count; the thread
carries its message count. Both are filled from the messages once here and
then kept by the transaction that saves each message.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count


def count_existing_messages(apps, schema_editor):
    Thread = apps.get_model("privatemessages", "Thread")
    Membership = apps.get_model("privatemessages", "Membership")
    Message = apps.get_model("privatemessages", "Message")
    totals = Message.objects.values("thread_id").annotate(n=Count("id")).order_by()
    for row in totals:
        Thread.objects.filter(pk=row["thread_id"]).update(message_count=row["n"])
    sent = (
        Message.objects.exclude(sender=None)
        .values("thread_id", "sender_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in sent:
        Membership.objects.filter(thread_id=row["thread_id"], user_id=row["sender_id"]).update(
            sent_count=row["n"]
        )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("privatemessages", "0002_message_client_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Membership",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "thread",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="privatemessages.thread",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "участник",
                        "verbose_name_plural": "участники",
                        "db_table": "privatemessages_thread_participants",
                        "unique_together": {("thread", "user")},
                    },
                ),
                migrations.AlterField(
                    model_name="thread",
                    name="participants",
                    field=models.ManyToManyField(
                        related_name="message_threads",
                        through="privatemessages.Membership",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="membership",
            name="sent_count",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="thread",
            name="message_count",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AlterField(
            model_name="message",
            name="sender",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="sent_messages",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(count_existing_messages, migrations.RunPython.noop),
    ]
