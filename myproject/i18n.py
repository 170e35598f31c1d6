"""The scripts' translation catalog, cheap to ask for on every page.

Every page loads it before its other scripts. Browsers revalidate it with an
ETag that names the language and this process's start, so a page view costs a
304 instead of a rebuilt catalog, a language switch (same address, other
language) never reuses the other language's copy, and a deploy (new .mo
files, new process) never serves a stale one.
"""

import time

from django.utils.translation import get_language
from django.views.decorators.cache import cache_control
from django.views.decorators.http import etag
from django.views.i18n import JavaScriptCatalog

_STARTED = str(time.time_ns())


def _catalog_etag(request, *args, **kwargs) -> str:
    return f"{get_language()}-{_STARTED}"


# packages: the apps whose locale/ directories are read besides LOCALE_PATHS
# (always read: this site's catalogs are there). Named, so that the default
# (every installed app) does not put the admin's strings in every page's catalog.
_catalog_view = JavaScriptCatalog.as_view(packages=["privatemessages"])

# no-cache: the browser keeps its copy but asks each time (a 304 while the ETag holds).
javascript_catalog = cache_control(no_cache=True)(etag(_catalog_etag)(_catalog_view))
