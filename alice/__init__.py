"""
Alice skills written as straight-line generators, as with alice_scripts (see docs/alice.md).

    from alice import Skill, request, say, suggest
    from alice import recorded  # outside values (time, random, lookups) that replay agrees on
    from alice import button, buttons, big_image, start_account_linking, RequestType, ...

Importing this package does not import Django: the engine lives in ``alice.engine``.
"""

from alice.engine import (
    EntityType,
    IntentName,
    RequestType,
    ResponseLimitError,
    Skill,
    audio_player_play,
    audio_player_stop,
    big_image,
    button,
    buttons,
    card_button,
    card_item,
    image_gallery,
    items_list,
    recorded,
    request,
    request_geolocation,
    say,
    show_item_meta,
    start_account_linking,
    suggest,
)

__all__ = [
    "EntityType",
    "IntentName",
    "RequestType",
    "ResponseLimitError",
    "Skill",
    "audio_player_play",
    "audio_player_stop",
    "big_image",
    "button",
    "buttons",
    "card_button",
    "card_item",
    "image_gallery",
    "items_list",
    "recorded",
    "request",
    "request_geolocation",
    "say",
    "show_item_meta",
    "start_account_linking",
    "suggest",
]
