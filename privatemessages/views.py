"""
Thin views: the forms check the input once, then a selector or a service
that trusts it, then a page. The JSON API is in api.py.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .forms import ChatMessageForm, NewMessageForm
from .services import MessageError, message_create, message_send_to_user


@login_required
@require_GET
def thread_list(request: HttpRequest) -> HttpResponse:
    return _render_thread_list(request, NewMessageForm())


@login_required
@require_GET
def chat(request: HttpRequest, thread_id: int) -> HttpResponse:
    view = selectors.chat_for_participant(thread_id=thread_id, user=request.user)
    if view is None:
        raise Http404("No such thread.")
    return _render_chat(request, view, ChatMessageForm())


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
    threads = selectors.thread_list_for_user(user=request.user)
    return render(request, "privatemessages/thread_list.html", {"threads": threads, "form": form})


def _render_chat(
    request: HttpRequest, view: selectors.ChatView, form: ChatMessageForm
) -> HttpResponse:
    return render(
        request,
        "privatemessages/chat.html",
        {"chat": view, "thread": view.thread, "form": form},
    )
