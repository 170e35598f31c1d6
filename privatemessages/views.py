"""
Thin views: the forms check the input once, then a selector or a service
that trusts it, then a page. The JSON API is in api.py; the chat page's JSON
helpers (older history, username suggestions, settings) in page_api.py.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import bots, profiles, selectors, unread
from .forms import ChatMessageForm, ChatSettingsForm, NewMessageForm, before_id
from .services import MessageError, message_create, message_send_to_user


@login_required
@require_GET
def thread_list(request: HttpRequest) -> HttpResponse:
    return _render_thread_list(request, NewMessageForm())


@login_required
@require_GET
def chat(request: HttpRequest, thread_id: int) -> HttpResponse:
    before = before_id(request.GET.get("before"))
    view = selectors.chat_for_participant(thread_id=thread_id, user=request.user, before=before)
    if view is None:
        raise Http404("No such thread.")
    if view.is_newest_page and view.last_id > view.last_read_id:
        # Opening a thread reads what it shows (the view keeps the position
        # from before, for the "new messages" divider).
        unread.thread_mark_read(user_id=request.user.pk, thread_id=thread_id, up_to=view.last_id)
    return _render_chat(request, view, ChatMessageForm())


@login_required
@require_http_methods(["GET", "POST"])
def chat_settings(request: HttpRequest) -> HttpResponse:
    """The user's chat settings: receipts, presence, notifications."""
    profile = profiles.profile_get(user_id=request.user.pk)
    form = ChatSettingsForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        profiles.profile_update(user_id=request.user.pk, **form.cleaned_data)
        return redirect("privatemessages:settings")
    return render(request, "privatemessages/settings.html", {"form": form})


@login_required
@require_POST
def send_message(request: HttpRequest) -> HttpResponse:
    """The POST target of the new-message form: to a user, by username."""
    form = NewMessageForm(request.POST)
    if form.is_valid():
        try:
            message = message_send_to_user(
                sender=request.user,
                recipient=form.cleaned_data["recipient"],
                text=form.cleaned_data["text"],
            )
        except MessageError as error:
            form.add_message_error(error)
        else:
            return redirect(message.thread.get_absolute_url())
    return _render_thread_list(request, form)


@login_required
@require_POST
def chat_send(request: HttpRequest, thread_id: int) -> HttpResponse:
    """The POST target of the chat page's form without JavaScript: to its thread."""
    thread = selectors.thread_for_participant(thread_id=thread_id, user=request.user)
    if thread is None:
        raise Http404("No such thread.")
    form = ChatMessageForm(request.POST)
    if form.is_valid():
        try:
            message_create(sender=request.user, thread=thread, text=form.cleaned_data["text"])
        except MessageError as error:
            form.add_message_error(error)
        else:
            return redirect(thread.get_absolute_url())
    view = selectors.chat_for_participant(thread_id=thread_id, user=request.user)
    if view is None:  # left the thread meanwhile
        raise Http404("No such thread.")
    return _render_chat(request, view, form)


def _render_thread_list(request: HttpRequest, form: NewMessageForm) -> HttpResponse:
    page = selectors.thread_list_for_user(user=request.user, after=request.GET.get("after"))
    next_page_url = None
    if page.next_cursor is not None:
        next_page_url = f"{request.path}?after={page.next_cursor}"
    return render(
        request,
        "privatemessages/thread_list.html",
        {
            "threads": page.threads,
            "form": form,
            "next_page_url": next_page_url,
            # The bots one can write to (bots.py), listed under the form.
            "skill_partners": bots.directory().listed_bots(),
        },
    )


def _render_chat(
    request: HttpRequest, view: selectors.ChatView, form: ChatMessageForm
) -> HttpResponse:
    return render(
        request,
        "privatemessages/chat.html",
        {"chat": view, "thread": view.thread, "form": form},
    )
