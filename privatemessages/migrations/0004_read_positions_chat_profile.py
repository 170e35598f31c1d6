"""
Read positions and unread counts per participant, and a chat profile per user
(settings and the unread total), made for every user in a thread. Messages
sent before this migration count as read: there is no record of what anyone
saw.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Max, OuterRef, Subquery


def everything_read(apps, schema_editor):
    Membership = apps.get_model("privatemessages", "Membership")
    Message = apps.get_model("privatemessages", "Message")
    newest = (
        Message.objects.filter(thread_id=OuterRef("thread_id"))
        .order_by()
        .values("thread_id")
        .annotate(m=Max("id"))
        .values("m")
    )
    Membership.objects.update(last_read_id=Subquery(newest))
    Membership.objects.filter(last_read_id__isnull=True).update(last_read_id=0)
    # A profile for everyone in a thread: each message updates them in place.
    ChatProfile = apps.get_model("privatemessages", "ChatProfile")
    users = Membership.objects.values_list("user_id", flat=True).distinct()
    ChatProfile.objects.bulk_create(
        [ChatProfile(user_id=user_id) for user_id in users], ignore_conflicts=True, batch_size=1000
    )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("privatemessages", "0003_membership_counts_keep_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="membership",
            name="last_read_id",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="membership",
            name="unread_count",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.CreateModel(
            name="ChatProfile",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="chat_profile",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("unread_total", models.PositiveBigIntegerField(default=0)),
                ("unread_version", models.PositiveBigIntegerField(default=0)),
                ("send_receipts", models.BooleanField(default=True)),
                ("show_presence", models.BooleanField(default=True)),
                ("notifications", models.BooleanField(default=False)),
                ("last_seen", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "настройки чата",
                "verbose_name_plural": "настройки чата",
            },
        ),
        migrations.RunPython(everything_read, migrations.RunPython.noop),
    ]
