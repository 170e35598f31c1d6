from django.http import HttpResponse


def thread_list(request):
    return HttpResponse("TODO")


def chat(request, thread_id):
    return HttpResponse("TODO")
