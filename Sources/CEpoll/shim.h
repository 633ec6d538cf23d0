// Linux's epoll, timerfd and signalfd (not in Swift's Glibc module): the EventLoop's system calls.
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
