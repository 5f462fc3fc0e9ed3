import { addPropertyControls, ControlType } from "framer"

/**
 * @framerSupportedLayoutWidth any
 * @framerSupportedLayoutHeight any
 */
export default function Badge({ text = "New", tone = "#16a34a", pill = true }) {
  return (
    <div style={{ position: "relative" }}>
      <span style={{ background: tone, borderRadius: pill ? 999 : 4 }}>{text}</span>
      <small>It's fresh</small>
    </div>
  )
}

addPropertyControls(Badge, {
    text: { type: ControlType.String, title: "Text", defaultValue: "New" },
    tone: { type: ControlType.Color, title: "Tone", defaultValue: "#16a34a" },
    pill: { type: ControlType.Boolean, title: "Pill", defaultValue: true },
})
