from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("privatemessages", "0004_read_positions_chat_profile"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="attachments",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
