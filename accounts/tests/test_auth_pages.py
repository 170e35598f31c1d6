from django.contrib.auth import get_user_model

from .conftest import PASSWORD


def test_signup_page_renders_in_russian(client, db):
    response = client.get("/accounts/signup/")
    content = response.content.decode()
    assert response.status_code == 200
    assert "Регистрация" in content
    assert 'name="username"' in content
    assert 'name="password1"' in content
    assert 'name="password2"' in content


def test_signup_creates_the_user_logs_in_and_opens_the_messages(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/messages/"
    user = get_user_model().objects.get(username="newcomer")
    assert user.check_password(PASSWORD)
    page = client.get("/messages/")
    assert page.status_code == 200
    assert page.wsgi_request.user == user


def test_signup_errors_are_shown(client, db, user):
    response = client.post(
        "/accounts/signup/",
        {"username": "anna", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "errorlist" in content
    assert get_user_model().objects.count() == 1


def test_weak_password_is_refused(client, db):
    response = client.post(
        "/accounts/signup/", {"username": "weak", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="weak").exists()


def test_logged_in_user_skips_signup(client, user):
    client.force_login(user)
    response = client.get("/accounts/signup/")
    assert response.status_code == 302
    assert response["Location"] == "/messages/"


def test_login_page_and_login(client, user):
    page = client.get("/accounts/login/?next=/messages/")
    assert page.status_code == 200
    assert "Вход" in page.content.decode()
    assert 'name="next" value="/messages/"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "anna", "password": PASSWORD, "next": "/messages/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/messages/"


def test_wrong_password_is_refused(client, user):
    response = client.post("/accounts/login/", {"username": "anna", "password": "nope"})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()


def test_pages_show_a_logout_post_form(client, user):
    client.force_login(user)
    content = client.get("/messages/").content.decode()
    form_start = content.index('action="/accounts/logout/"')
    assert 'method="post"' in content[content.rindex("<form", 0, form_start) : form_start]
    assert "Выйти" in content


def test_logout_is_a_post(client, user):
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/messages/").status_code == 302


def test_anonymous_root_goes_to_login(client, db):
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert response.status_code == 200
