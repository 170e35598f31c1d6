from django.contrib.auth.forms import AuthenticationForm, UserCreationForm, UsernameField
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .usernames import confusable_username, invisible_characters

THROTTLED = "throttled"


class LoginForm(AuthenticationForm):
    """Django's log-in form, telling a throttled attempt apart from a wrong password."""

    def get_invalid_login_error(self) -> ValidationError:
        refusal = getattr(self.request, "login_throttled", None)
        if refusal is None:
            return super().get_invalid_login_error()
        return ValidationError(
            " ".join(
                (
                    gettext("Слишком много неудачных попыток входа."),
                    ngettext(
                        "Попробуйте снова через %(minutes)s минуту.",
                        "Попробуйте снова через %(minutes)s минут.",
                        refusal.minutes,
                    ),
                )
            ),
            code=THROTTLED,
            params={"minutes": refusal.minutes},
        )


class SignupUsernameField(UsernameField):
    """Django's username field, refusing invisible and format characters."""

    def to_python(self, value: str | None) -> str:
        value = super().to_python(value)
        # Before the validators: Django's own would only say the name holds
        # a character it does not allow, and lets some invisible letters pass.
        if invisible_characters(value):
            raise ValidationError(
                _(
                    "Имя пользователя не может содержать невидимые и управляющие символы "
                    "(пробелы нулевой ширины, знаки направления текста и подобные)."
                ),
                code="invisible_characters",
            )
        return value


class SignupForm(UserCreationForm):
    """Django's sign-up form, refusing names that could pass for someone else's."""

    class Meta(UserCreationForm.Meta):
        field_classes = {"username": SignupUsernameField}

    def clean_username(self) -> str | None:
        # Django's check first: a name taken in any letter case gets its message.
        username = super().clean_username()
        if username and confusable_username(username) is not None:
            raise ValidationError(
                _(
                    "Это имя выглядит так же, как имя другого пользователя, и их можно "
                    "спутать. Выберите другое."
                ),
                code="confusable_username",
            )
        return username
