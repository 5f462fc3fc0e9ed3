import { useState } from "react"
import { addPropertyControls, ControlType } from "framer"

/**
 * @framerSupportedLayoutWidth any
 * @framerSupportedLayoutHeight any
 */
export default function Counter({ start = 0, step = 1, label = "Clicks" }) {
  const [count, setCount] = useState(start)
  return (
    <div style={{ position: "relative" }} className="counter">
      <span>{label}: {count}</span>
      <button onClick={() => setCount(count + step)}>+{step}</button>
    </div>
  )
}

addPropertyControls(Counter, {
    start: { type: ControlType.Number, title: "Start", defaultValue: 0 },
    step: { type: ControlType.Number, title: "Step", defaultValue: 1 },
    label: { type: ControlType.String, title: "Label", defaultValue: "Clicks" },
})
