"""
The admin shows threads and messages and lets staff moderate them (edit a
message's text, delete). It creates neither: every message goes through
services.message_create, and every thread through its pair key.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from . import services
from .models import Message, Thread


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created", "sender", "text")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("sender")


@admin.register(Thread)
class ThreadAdmin(admin.ModelAdmin):
    list_display = ("id", "participant_names", "last_message", "created")
    search_fields = ("participants__username",)
    date_hierarchy = "last_message"
    readonly_fields = ("participants", "pair_key", "last_message", "created")
    inlines = (MessageInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Thread]:
        return super().get_queryset(request).prefetch_related("participants")

    @admin.display(description=_("участники"))
    def participant_names(self, thread: Thread) -> str:
        return ", ".join(user.get_username() for user in thread.participants.all())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "thread", "sender", "short_text", "created")
    list_select_related = ("sender", "thread")
    list_filter = ("created",)
    search_fields = ("text", "sender__username")
    date_hierarchy = "created"
    fields = ("thread", "sender", "created", "text")
    readonly_fields = ("thread", "sender", "created")

    @admin.display(description=_("текст"))
    def short_text(self, message: Message) -> str:
        return Truncator(message.text).chars(60)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Message) -> None:
        super().delete_model(request, obj)
        services.thread_counts_rebuild(thread_ids=[obj.thread_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        thread_ids = list(queryset.values_list("thread_id", flat=True).distinct())
        super().delete_queryset(request, queryset)
        services.thread_counts_rebuild(thread_ids=thread_ids)
