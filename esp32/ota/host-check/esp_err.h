/* Stand-in for ESP-IDF's esp_err.h in the host check of boot-control.c (see README.md here): the
   codes boot-control.c and fake-idf.c use, with ESP-IDF v6.0's values. */
#ifndef FAKE_ESP_ERR_H
#define FAKE_ESP_ERR_H
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
#define ESP_FAIL (-1)
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_NOT_ALLOWED 0x10D
const char *esp_err_to_name(esp_err_t code);
#endif
