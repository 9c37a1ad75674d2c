/*
 * ESP32 natives behind esp32/ota/boot-control.ts: the update slot (the OTA app partition not running)
 * written directly with esp_partition_erase_range / esp_partition_write, so that a download resumes
 * after a reboot without erasing what is already written (the SDK's embedded:update goes through
 * esp_ota_begin, which erases the slot when it opens), and the boot control of ESP-IDF's app rollback
 * (esp_ota_get_state_partition, esp_ota_mark_app_valid_cancel_rollback,
 * esp_ota_mark_app_invalid_rollback_and_reboot). Needs CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y
 * (esp32/ota/sdkconfig/sdkconfig.defaults) for images to boot pending and be rolled back.
 *
 * Every ESP-IDF failure throws an Error naming the call and the esp_err_t (esp_err_to_name).
 */

#include "xsmc.h"
#include "xsHost.h"

#include "esp_err.h"
#include "esp_idf_version.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "app_update/include/esp_ota_ops.h"

#define kNotBegun (-1)

/* The slot's state, a host chunk of the Esp32UpdateSlot instance. */
typedef struct {
	const esp_partition_t *partition;	/* valid for the application's lifetime (esp_partition) */
	int32_t byteLength;				/* the image being written, or kNotBegun */
} IiotSlotRecord, *IiotSlot;

static void throwIfFailed(xsMachine *the, const char *call, esp_err_t err)
{
	if (ESP_OK != err)
		xsUnknownError("%s: %s (0x%x)", call, esp_err_to_name(err), (unsigned)err);
}

/* A non-negative integer argument up to limit, else a RangeError naming what it is. */
static uint32_t toOffset(xsMachine *the, xsSlot *slot, uint32_t limit, const char *what)
{
	xsNumberValue value = xsmcToNumber(*slot);
	if (!(value >= 0) || (value > (xsNumberValue)limit) || (value != (xsNumberValue)(uint32_t)value))
		xsRangeError("%s out of range", what);
	return (uint32_t)value;
}

/* The running image's state in otadata, as a name (see OtaImageState in boot-control.ts). */
static const char *runningStateName(xsMachine *the)
{
	const esp_partition_t *running = esp_ota_get_running_partition();
	if (!running)
		xsUnknownError("esp_ota_get_running_partition: none");
	esp_ota_img_states_t state;
	esp_err_t err = esp_ota_get_state_partition(running, &state);
	if (ESP_ERR_NOT_SUPPORTED == err)
		return "factory";		/* not an OTA slot: no otadata entry can exist */
	if (ESP_ERR_NOT_FOUND == err)
		return "none";			/* flashed by cable: otadata is blank, the bootloader took ota_0 */
	throwIfFailed(the, "esp_ota_get_state_partition", err);
	switch (state) {
		case ESP_OTA_IMG_NEW: return "new";
		case ESP_OTA_IMG_PENDING_VERIFY: return "pending-verify";
		case ESP_OTA_IMG_VALID: return "valid";
		case ESP_OTA_IMG_INVALID: return "invalid";
		case ESP_OTA_IMG_ABORTED: return "aborted";
		default: return "undefined";
	}
}

/* ---- boot control (no instance state) */

void xs_iiot_ota_running_state(xsMachine *the)
{
	xsmcSetString(xsResult, (char *)runningStateName(the));
}

void xs_iiot_ota_running_partition(xsMachine *the)
{
	const esp_partition_t *running = esp_ota_get_running_partition();
	if (!running)
		xsUnknownError("esp_ota_get_running_partition: none");
	xsmcSetString(xsResult, (char *)running->label);
}

void xs_iiot_ota_mark_valid(xsMachine *the)
{
	/* Only a pending image has anything to confirm (on a blank otadata, after a cable flash, ESP-IDF
	   would answer ESP_FAIL: "Running firmware is factory"). */
	if (c_strcmp(runningStateName(the), "pending-verify"))
		return;
	throwIfFailed(the, "esp_ota_mark_app_valid_cancel_rollback", esp_ota_mark_app_valid_cancel_rollback());
}

void xs_iiot_ota_rollback(xsMachine *the)
{
	/* The first update after a cable flash: otadata held no entry for the old image (it booted as
	   ota_0 by default), so ESP-IDF finds nothing to roll back to and answers
	   ESP_ERR_OTA_ROLLBACK_FAILED. A pending image that restarts is marked ABORTED by the bootloader,
	   which then boots ota_0 by default again: the old image. */
#if ESP_IDF_VERSION_MAJOR >= 6
	/* Marks the running image invalid and returns: the caller restarts (src/main.ts, after the
	   node's clean stop), and the bootloader boots the previous image. */
	esp_err_t err = esp_ota_mark_app_invalid_rollback();
	if (ESP_OK == err)
		return;
	if ((ESP_ERR_OTA_ROLLBACK_FAILED == err) && (0 == c_strcmp(runningStateName(the), "pending-verify")))
		return;		/* the caller's restart is the rollback */
	throwIfFailed(the, "esp_ota_mark_app_invalid_rollback", err);
#else
	/* ESP-IDF 5 has no call that marks without restarting: this one restarts at once. */
	esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();
	if ((ESP_ERR_OTA_ROLLBACK_FAILED == err) && (0 == c_strcmp(runningStateName(the), "pending-verify")))
		esp_restart();
	throwIfFailed(the, "esp_ota_mark_app_invalid_rollback_and_reboot", (ESP_OK == err) ? ESP_FAIL : err);
#endif
}

void xs_iiot_ota_reboot(xsMachine *the)
{
	esp_restart();
}

/* ---- the update slot */

void xs_iiot_ota_slot_destructor(void *data)
{
	/* Nothing to release: the record lives in the instance's chunk and partition pointers are static. */
}

void xs_iiot_ota_slot(xsMachine *the)
{
	IiotSlotRecord slot;
	slot.partition = esp_ota_get_next_update_partition(NULL);
	if (!slot.partition)
		xsUnknownError("esp_ota_get_next_update_partition: no OTA app slot to write (the partition table needs ota_0, ota_1 and otadata)");
	slot.byteLength = kNotBegun;
	xsmcSetHostChunk(xsThis, &slot, sizeof(slot));
}

void xs_iiot_ota_slot_get_capacity(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	xsmcSetInteger(xsResult, slot->partition->size);
}

void xs_iiot_ota_slot_get_sectorSize(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	xsmcSetInteger(xsResult, slot->partition->erase_size);
}

void xs_iiot_ota_slot_get_label(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	xsmcSetString(xsResult, (char *)slot->partition->label);
}

/* begin(byteLength, resume) */
void xs_iiot_ota_slot_begin(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	const esp_partition_t *partition = slot->partition;
	uint32_t byteLength = toOffset(the, &xsArg(0), partition->size, "byteLength");
	uint8_t resume = xsmcTest(xsArg(1));
	if (0 == byteLength)
		xsRangeError("byteLength out of range");

	/* While the running image is pending, the slot holds the image it rolls back to (esp_ota_begin
	   refuses too, with ESP_ERR_OTA_ROLLBACK_INVALID_STATE). */
	if (0 == c_strcmp(runningStateName(the), "pending-verify"))
		xsUnknownError("the running image is pending confirmation: the slot holds its fallback");

	/* A fresh start makes the slot unbootable at once: nothing half-written passes for an image. */
	if (!resume)
		throwIfFailed(the, "esp_partition_erase_range", esp_partition_erase_range(partition, 0, partition->erase_size));

	slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	slot->byteLength = (int32_t)byteLength;
}

/* write(offset, bytes[, length]): erases the sectors it covers, then programs them. */
void xs_iiot_ota_slot_write(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	const esp_partition_t *partition = slot->partition;
	int32_t byteLength = slot->byteLength;
	if (kNotBegun == byteLength)
		xsUnknownError("update slot: write before begin");

	uint32_t offset = toOffset(the, &xsArg(0), (uint32_t)byteLength, "offset");
	if (offset % partition->erase_size)
		xsRangeError("offset not on a sector boundary");

	/* the length first: converting it could run JavaScript, which may move the buffer's data */
	uint8_t hasLength = (xsmcArgc > 2) && (xsUndefinedType != xsmcTypeOf(xsArg(2)));
	uint32_t length = hasLength ? toOffset(the, &xsArg(2), 0xFFFFFFFF, "length") : 0;
	void *data;
	xsUnsignedValue size;
	xsmcGetBufferReadable(xsArg(1), &data, &size);
	if (!hasLength)
		length = (uint32_t)size;
	else if (length > size)
		xsRangeError("length beyond the buffer");
	if ((0 == length) || (length > (uint32_t)byteLength - offset))
		xsRangeError("write of %u bytes at %u outside the %d-byte image", (unsigned)length, (unsigned)offset, (int)byteLength);
	if (partition->encrypted && (length % 16))
		xsRangeError("encrypted flash takes writes in multiples of 16 bytes");

	uint32_t eraseLength = ((length + partition->erase_size - 1) / partition->erase_size) * partition->erase_size;
	throwIfFailed(the, "esp_partition_erase_range", esp_partition_erase_range(partition, offset, eraseLength));
	/* No XS allocation since xsmcGetBufferReadable: data still points into the buffer. */
	throwIfFailed(the, "esp_partition_write", esp_partition_write(partition, offset, data, length));
}

/* read(offset, buffer[, length]) */
void xs_iiot_ota_slot_read(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	const esp_partition_t *partition = slot->partition;

	uint32_t offset = toOffset(the, &xsArg(0), partition->size, "offset");
	uint8_t hasLength = (xsmcArgc > 2) && (xsUndefinedType != xsmcTypeOf(xsArg(2)));
	uint32_t length = hasLength ? toOffset(the, &xsArg(2), 0xFFFFFFFF, "length") : 0;
	void *data;
	xsUnsignedValue size;
	xsmcGetBufferWritable(xsArg(1), &data, &size);
	if (!hasLength)
		length = (uint32_t)size;
	else if (length > size)
		xsRangeError("length beyond the buffer");
	if (length > partition->size - offset)
		xsRangeError("read of %u bytes at %u outside the slot", (unsigned)length, (unsigned)offset);
	if (length)
		throwIfFailed(the, "esp_partition_read", esp_partition_read(partition, offset, data, length));
}

/* activate(): ESP-IDF checks the image (header, segments, appended SHA-256) and writes otadata so
   that the next boot runs it; with rollback enabled it boots pending (ESP_OTA_IMG_NEW). */
void xs_iiot_ota_slot_activate(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	const esp_partition_t *partition = slot->partition;
	if (kNotBegun == slot->byteLength)
		xsUnknownError("update slot: activate before begin");
	throwIfFailed(the, "esp_ota_set_boot_partition", esp_ota_set_boot_partition(partition));
	slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	slot->byteLength = kNotBegun;
}

void xs_iiot_ota_slot_abort(xsMachine *the)
{
	IiotSlot slot = xsmcGetHostChunkValidate(xsThis, xs_iiot_ota_slot_destructor);
	slot->byteLength = kNotBegun;
}
