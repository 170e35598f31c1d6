from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .forms import THROTTLED, LoginForm, SignupForm

# The backend that checks passwords (settings.AUTHENTICATION_BACKENDS[0]): with
# two backends listed, login() must be told which one vouches for a new user.
PASSWORD_BACKEND = "accounts.backends.ThrottledModelBackend"


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account, log it in and go to the messages."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            login(request, form.save(), backend=PASSWORD_BACKEND)
            return redirect(settings.LOGIN_REDIRECT_URL)
    else:
        form = SignupForm()
    return render(request, "registration/signup.html", {"form": form})


class LoginView(auth_views.LoginView):
    """Django's log-in page; a throttled attempt gets 429 with the form and the reason."""

    form_class = LoginForm

    def form_invalid(self, form: Form) -> HttpResponse:
        refusal = getattr(self.request, "login_throttled", None)
        if refusal is None or not form.has_error(NON_FIELD_ERRORS, THROTTLED):
            return super().form_invalid(form)
        # The page's header would look the session's user up: a refused guess
        # is to cost no database connection, and a throttled client is not
        # logged in as far as this page is concerned.
        context = self.get_context_data(form=form, user=AnonymousUser())
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(refusal.retry_after)
        # Django would log each refusal (a 4xx) at WARNING: a flood of guesses
        # would flood the log. The throttle logs when a limit is reached.
        response._has_been_logged = True
        return response
