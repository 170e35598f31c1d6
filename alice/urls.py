"""Alice webhooks: mount a script with one line, webhook_view(<its module>.skill)."""

from django.urls import path

from alice.scripts import acquaintance, guess_number, pet_gift
from alice.views import webhook_view

app_name = "alice"

urlpatterns = [
    # The README example of alice_scripts is the default skill.
    path("", webhook_view(acquaintance.skill), name="webhook"),
    path("guess-number/", webhook_view(guess_number.skill), name="guess_number"),
    path("pet-gift/", webhook_view(pet_gift.skill), name="pet_gift"),
]
