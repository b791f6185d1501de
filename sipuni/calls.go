package sipuni

import (
	"context"
	"errors"

	"github.com/pbxkit/pbxkit/pbx"
	"github.com/pbxkit/pbxkit/phone"
	"github.com/pbxkit/pbxkit/provider"
)

// CallNumberRequest is callback/call_number: connect an employee with an
// external number ("click to call"). Sipuni signs
// antiaon+phone+reverse+sipnumber+user.
type CallNumberRequest struct {
	// Phone is the external number, digits in international form without
	// "+" ("79031234567"). It is sent as given; MakeCall normalises it.
	Phone string `url:"phone"`
	// SIPNumber is the employee's short extension ("201").
	SIPNumber string `url:"sipnumber"`
	// Reverse false rings the extension first and the external number once
	// it answers; true rings the external number first.
	Reverse bool `url:"reverse,int"`
	// AntiAON hides the company number from the called party.
	AntiAON bool `url:"antiaon,int"`
}

// CallTreeRequest is callback/call_tree: call an external number through a
// call scheme (voice menu).
//
// The signed set is uncertain in the sources (one adds antiaon, one hashes
// only phone+sipnumber+user); this sends phone, reverse, sipnumber, tree and,
// when set, callAttemptTime, and signs exactly those.
type CallTreeRequest struct {
	// Phone is the external number, digits without "+".
	Phone string `url:"phone"`
	// SIPNumber is the extension whose outgoing line is used.
	SIPNumber string `url:"sipnumber"`
	// Tree is the scheme number, such as "000-913901".
	Tree string `url:"tree"`
	// Reverse as in CallNumberRequest.
	Reverse bool `url:"reverse,int"`
	// CallAttemptTime is how many seconds to ring (one source says at
	// least 30); 0 leaves it out.
	CallAttemptTime int `url:"callAttemptTime,omitempty"`
}

// CallExternalRequest is callback/call_external: bridge two external
// numbers. Sipuni signs phoneFrom+phoneTo+sipnumber+sipnumber2+user.
//
// When the first party hangs up before the second answers Sipuni sends no
// events at all, and on these calls call_answer_timestamp is unreliable.
type CallExternalRequest struct {
	// PhoneFrom is rung first.
	PhoneFrom string `url:"phoneFrom"`
	// PhoneTo is rung once PhoneFrom answers.
	PhoneTo string `url:"phoneTo"`
	// SIPNumber is the extension whose outgoing line calls PhoneFrom.
	SIPNumber string `url:"sipnumber"`
	// SIPNumber2 is the extension whose outgoing line calls PhoneTo
	// (meaning inferred from the name; clients pass SIPNumber again).
	SIPNumber2 string `url:"sipnumber2"`
}

type hangupParams struct {
	CallID string `url:"callId"`
}

var (
	errNoPhone     = errors.New("sipuni: no phone number")
	errNoExtension = errors.New("sipuni: no extension (sipnumber)")
)

// CallNumber orders a click-to-call. Success only means Sipuni accepted the
// order: the call's progress arrives later as events with their own call_id,
// and an extension whose softphone is offline gets no call and no events.
//
// It is never retried once the request may have reached Sipuni.
func (c *Client) CallNumber(ctx context.Context, req CallNumberRequest) (CallResponse, error) {
	if req.Phone == "" {
		return CallResponse{}, errNoPhone
	}
	if req.SIPNumber == "" {
		return CallResponse{}, errNoExtension
	}
	return c.postJSON(ctx, "callback/call_number", provider.PolicyAction, req)
}

// CallTree orders a call to an external number through a call scheme. It is
// never retried once the request may have reached Sipuni.
func (c *Client) CallTree(ctx context.Context, req CallTreeRequest) (CallResponse, error) {
	if req.Phone == "" {
		return CallResponse{}, errNoPhone
	}
	if req.Tree == "" {
		return CallResponse{}, errors.New("sipuni: no scheme number (tree)")
	}
	return c.postJSON(ctx, "callback/call_tree", provider.PolicyAction, req)
}

// CallExternal orders a call between two external numbers. It is never
// retried once the request may have reached Sipuni.
func (c *Client) CallExternal(ctx context.Context, req CallExternalRequest) (CallResponse, error) {
	if req.PhoneFrom == "" || req.PhoneTo == "" {
		return CallResponse{}, errNoPhone
	}
	if req.SIPNumber == "" {
		return CallResponse{}, errNoExtension
	}
	return c.postJSON(ctx, "callback/call_external", provider.PolicyAction, req)
}

// Hangup ends an active call (events/call/hangup, signed callId+user).
// callID is the call_id of the events; whether Sipuni also accepts other ids
// here is not documented. Ending a call twice is harmless, so Hangup is
// retried like a read.
func (c *Client) Hangup(ctx context.Context, callID string) error {
	if callID == "" {
		return errors.New("sipuni: no call id")
	}
	_, err := c.postJSON(ctx, "events/call/hangup", provider.PolicyRead, hangupParams{CallID: callID})
	return err
}

// MakeCall implements pbx.Caller with CallNumber: phone is req.Phone
// normalised by phone.Normalize, sipnumber is req.Extension, reverse and
// antiaon are 0 (the extension rings first; the company number is shown).
// It is never retried once the request may have reached Sipuni.
//
// Sipuni answers with an id of the callback order, not of the call: the
// call's events carry a call_id of their own that the answer does not give.
// So CallResult.CallID is always empty, and CallResult.OrderID is the
// order's id (Sipuni's "id", else its "callId"; empty when Sipuni sent
// neither). To find the call an order placed:
//
//   - live: the first EventRinging (event 1) after MakeCall returned with
//     Direction pbx.Outbound, Extension equal to req.Extension and Phone
//     equal to the normalised req.Phone is the order's call; its CallID is
//     the call_id every later event of that call carries (event 2 of a
//     click-to-call may name neither party, so match it by that call_id).
//     Sipuni may repeat that event 1 a second later (same DedupeKey), and
//     sends no event at all when the employee's softphone is offline, so
//     give up after a timeout;
//   - afterwards: the statistics export's "ID заказа звонка" column
//     (StatisticsRow.OrderID) names the order of a call-back row, whose
//     "ID записи" (CallRecord.CallID) is the call's id; that this column
//     holds the id MakeCall returned is inferred from its name.
func (c *Client) MakeCall(ctx context.Context, req pbx.CallRequest) (pbx.CallResult, error) {
	p := phone.Normalize(req.Phone)
	if !allDigits(p) {
		return pbx.CallResult{}, errors.New("sipuni: MakeCall: the phone is not a telephone number")
	}
	if req.Extension == "" {
		return pbx.CallResult{}, errNoExtension
	}
	r, err := c.CallNumber(ctx, CallNumberRequest{Phone: p, SIPNumber: req.Extension})
	if err != nil {
		return pbx.CallResult{}, err
	}
	return pbx.CallResult{OrderID: orElse(r.ID, r.CallID)}, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
