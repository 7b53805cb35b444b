// C++ `new[]` of sizes near SIZE_MAX must throw std::bad_alloc (libstdc++'s
// operator new gets NULL from malloc), never return a pointer.
#include <cstdint>
#include <cstdio>
#include <new>

static volatile std::size_t top = SIZE_MAX;
static char *volatile sink;

int main() {
    int thrown = 0, returned = 0;
    for (std::size_t k = 0; k < 4096; k++) {
        try {
            sink = new char[top - k];
            returned++;
            delete[] sink;
        } catch (const std::bad_alloc &) {
            thrown++;
        }
    }
    std::printf("new char[SIZE_MAX - k]: bad_alloc %d, returned %d\n", thrown, returned);
    return 0;
}
